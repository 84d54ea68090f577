"""Automation: Ansible jobs run against devices (history in ``ansible_jobs``)."""
