"""The audit: run a sampler on a problem (:mod:`~samplerlab.auditing.audit`), resolve what to run
(:mod:`~samplerlab.auditing.pipeline`, :mod:`~samplerlab.auditing.sampler_ref`), the floor and the
prior-complexity control, guards, the report, and audits over many observations."""
