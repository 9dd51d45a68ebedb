"""Sub-commands of the ``franet`` CLI, one module each (discovered by ``franet_core.cli``)."""
