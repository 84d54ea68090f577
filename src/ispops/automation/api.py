"""Automation over HTTP: Ansible jobs as a generic resource (requested here; their outcome is the
runner's to write)."""

from __future__ import annotations

from fastapi import APIRouter

from ispops.api.crud import Resource
from ispops.models import AnsibleJob

RESOURCES: list[Resource] = [
    Resource(
        "ansible_jobs",
        AnsibleJob,
        tag="automation",
        verbs=frozenset({"list", "get", "create"}),
        filters=("status", "job_type", "target_device_id"),
        search=("job_name", "playbook_name"),
        sort=("created_at", "started_at"),
        read_only=frozenset(
            {
                "status",
                "started_at",
                "completed_at",
                "duration_seconds",
                "exit_code",
                "stdout",
                "stderr",
                "ansible_facts",
                "changed_tasks",
                "failed_tasks",
                "awx_job_id",
                "triggered_by",
            }
        ),
    ),
]


def register(router: APIRouter) -> None:
    """No automation routes beyond the generic ones yet."""
