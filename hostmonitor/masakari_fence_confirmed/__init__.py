"""Fence-confirmed host-monitoring driver for masakari-hostmonitor."""

__version__ = "0.1.0"
DIST_NAME = "masakari-fence-confirmed"
ENTRY_POINT_GROUP = "hostmonitor.driver"
DRIVER_NAME = "fence-confirmed"
DRIVER_TARGET = "masakari_fence_confirmed.driver:FenceConfirmedDriver"
