"""Running mt-eval beyond one process: a Ray cluster (``ray_executor``) and static shards (``shards``).

Nothing here imports Ray unless ``--executor ray`` (``executor = "ray"``) asks for it.
"""
