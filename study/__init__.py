"""The study of docs/FINDINGS: experiments, committed results, the scripts that read them, and their tests.
It imports the installed library; the library never imports it."""
