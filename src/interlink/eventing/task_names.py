"""Names of the eventing jobs; they are stored in job rows, so they never change."""

POLL_TASK = "eventing.poll"
DELIVER_TASK = "eventing.deliver"
# The deliver jobs' queue: it has slots of its own (INTERLINK_DELIVERY_CONCURRENCY).
DELIVERY_QUEUE = "deliveries"
REGISTER_WEBHOOK_TASK = "eventing.register_webhook"
REMOVE_WEBHOOK_TASK = "eventing.remove_webhook"
RETENTION_TASK = "eventing.retention"


def poll_lock(instance_id: str, object_name: str) -> str:
    """Polls of one instance object share this lock, so they never overlap."""
    return f"poll:{instance_id}:{object_name}"


def deliver_lock(instance_id: str) -> str:
    """One delivery job per instance at a time keeps deliveries in order."""
    return f"deliver:{instance_id}"
