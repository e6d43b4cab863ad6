"""Bus backends: the transport and storage under :class:`arda.events.EventBus`.

``base`` defines the port; ``memory`` is the in-process twin; ``redis`` the production backend.
"""
