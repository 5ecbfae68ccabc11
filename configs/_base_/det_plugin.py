# Loads mmrskd into mmdet configs (default_scope 'mmdet' comes from mmdet's
# own default_runtime.py, inherited next to this file).
custom_imports = dict(imports=['mmrskd'], allow_failed_imports=False)
