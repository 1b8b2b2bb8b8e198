"""TTFD Cleaner: finds and removes junk files and manages programs started at login."""

__version__ = "0.1.0"
