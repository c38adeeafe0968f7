"""Handing freed heap memory back to the operating system."""

from __future__ import annotations

import ctypes


def return_free_memory() -> None:
    """Hand the heap's free pages back to the system (glibc's ``malloc_trim``).

    glibc keeps the pages of freed small and medium blocks (decoded photos, masks, network
    buffers) for reuse, so a long-lived process stays at its peak after a flood of large
    uploads or a closed scorer; trimming costs a few milliseconds. Elsewhere than glibc it
    does nothing.
    """
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to do
        pass
