"""Reading run directories, plots, layer responses and reports. Never imports ``train``."""
