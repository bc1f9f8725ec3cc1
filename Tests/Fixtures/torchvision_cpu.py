"""Import torchvision next to the CPU build of PyTorch.

torchvision's PyPI wheel is built against the CUDA build of torch; with the CPU build only the
meta (shape) registration of its compiled `nms` operator fails, which neither the models nor the
transforms use. Import this module before anything that imports torchvision.
"""
import torch

_register_fake = torch.library.register_fake
torch.library.register_fake = lambda *a, **k: (lambda f: f)
try:
    import torchvision  # noqa: F401
finally:
    torch.library.register_fake = _register_fake
