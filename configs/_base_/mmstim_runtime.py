# The plugin import every mmstim config needs, also when it runs from
# MMPretrain's own tools/train.py.
custom_imports = dict(imports=['mmstim'], allow_failed_imports=False)
