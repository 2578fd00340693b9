"""The edge agent: read -> detect -> alarm -> buffer -> forward (start at ``edge_agent.app``)."""

import sys

# httpx imports its command line client when click, rich and pygments are installed (uvicorn
# brings click; dev tools bring the rest): about 4 MB resident that the agent never uses, on
# gateways with 1 GB. A None entry makes that import fail, and httpx then goes without it.
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
