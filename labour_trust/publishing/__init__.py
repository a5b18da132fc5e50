"""What is published of each trust dataset (views, relations between tables) and how a
month is protected as one problem; the Dagster assets are in `defs/published.py`."""
