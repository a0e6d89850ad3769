"""The app's tabs, one module each: its handlers (plain functions returning a typed result) and `build()`,
which lays the tab out and wires its events. demo/layout.py puts them side by side."""
