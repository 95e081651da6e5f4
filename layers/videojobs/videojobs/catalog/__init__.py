"""The provider catalog: what each provider can serve (``capabilities``), what a job costs there
(``estimates``) and the request schema that publishes both rules (``request_schema``).

It sits above the models and the provider units and below the logic: the logic asks it, the
providers' adapters never do.
"""
