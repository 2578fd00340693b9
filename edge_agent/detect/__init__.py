"""Detection rules, evaluated incrementally per reading: pure code, no I/O, no clock of its own.

A detector sees each reading of its tags once and says which of its alarm conditions became
active or returned to normal. Time comes from the readings and from ``tick(now)``, which the
agent calls about once a second with its own clock, so that delays, ages and plans complete
even when a device reports by exception and then stays silent. Tests replay any timeline.

Clocks: a device's ``source_time`` may be off from the agent's clock. Rules that measure a
device's own signal (threshold, rate of change, state, drift, lot on hold) run on the source
clock and map ``tick(now)`` onto it with the offset of the tag's last reading. Rules that
compare with the agent's world (stale ages, plans) run on the agent clock: ``receive_time`` and
``now``. ``Transition.time`` is on the clock the rule runs on.

Delays follow a held-value model: a reading's value holds until the next reading, so a delay
completes at exactly ``start + delay``, whether a later reading or a tick notices it first; the
outcome does not depend on how often ticks come. A bad-quality reading ends the held value: it
cancels pending delays and leaves active alarms as they are (communication loss is the stale
rule's business), and value rules never raise or clear on it.
"""

from edge_agent.detect.base import Detector, Transition
from edge_agent.detect.build import build_detectors, by_tag
from edge_agent.detect.process import DriftDetector, LotOnHoldDetector, PlanDeviationDetector
from edge_agent.detect.signals import (
    RateOfChangeDetector,
    StaleDetector,
    StateDetector,
    ThresholdDetector,
)

__all__ = [
    "Detector",
    "DriftDetector",
    "LotOnHoldDetector",
    "PlanDeviationDetector",
    "RateOfChangeDetector",
    "StaleDetector",
    "StateDetector",
    "ThresholdDetector",
    "Transition",
    "build_detectors",
    "by_tag",
]
