"""The Qt layer: widgets and workers. All logic lives in `desktop.engine`."""
