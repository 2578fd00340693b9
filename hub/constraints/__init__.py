"""Live floor constraints for planners: derived from alarms and holds, posted by playbooks."""
