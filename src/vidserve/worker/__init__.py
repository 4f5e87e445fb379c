"""The worker, in four parts: ``runner`` (the loop: slots, claim, drain, the model cache),
``job`` (one claimed job: lease, render+encode, upload), ``inputs`` (the engine request, built
once) and ``outcome`` (the one outcome of a job, and the one function that records it);
``embedded`` runs it as a child process of ``vidserve serve``."""
