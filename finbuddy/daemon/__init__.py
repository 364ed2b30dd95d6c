"""The daemon: a registry of small idempotent jobs on an explicit schedule.Scheduler, and the process around it."""
