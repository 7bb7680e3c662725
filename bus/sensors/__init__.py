"""Group sensors: windowed statistics of what flows between agents.

``SensorHub`` is the entry point; ``SENSOR_NAMES`` lists what
``SensorHub.value`` can read. Definitions are in docs/sensors.md.
"""

from bus.sensors.config import PerAgentMetrics, SensorsConfig
from bus.sensors.group import SENSOR_NAMES
from bus.sensors.hub import SensorHub

__all__ = ["SENSOR_NAMES", "PerAgentMetrics", "SensorHub", "SensorsConfig"]
