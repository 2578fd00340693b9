"""Plan-to-outcome and alarm-load KPIs per site and area."""
