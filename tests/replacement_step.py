"""A user's own step, loaded by the tests through ``callable: module:function``."""


def mark_ipc(model, refs, params):
    """Stand in for the ipc step: leave the data alone, leave a mark."""
    model.meta["MY_IPC"] = "replaced"
    return model
