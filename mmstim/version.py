# Copyright (c) mmstim contributors. All rights reserved.
__version__ = '0.1.0'
version_info = tuple(
    int(x) if x.isdigit() else x for x in __version__.split('.'))
