"""Notifications: run-status and SLA sensors that send messages to the jobs' channels."""
