# Copyright (c) mmstim contributors. All rights reserved.
from .fashion_mnist import (DEFAULT_OUT_DIR, DataPreparationError, IdxFileInfo,
                            MD5MismatchWarning, PreparationResult,
                            check_prepared, find_source_files,
                            install_debian_package, prepare_fashion_mnist,
                            verify_idx_file)

__all__ = [
    'DEFAULT_OUT_DIR', 'DataPreparationError', 'IdxFileInfo',
    'MD5MismatchWarning', 'PreparationResult', 'check_prepared',
    'find_source_files', 'install_debian_package', 'prepare_fashion_mnist',
    'verify_idx_file'
]
