"""Pages for people: the HMI alarm panel, the audit view, the approvals inbox, the planner board.

Server-rendered HTML shells (``templates/``) with small vanilla scripts and one stylesheet
(``static/``), all shipped inside the package: no CDN, no build step. The shells hold no data; the
scripts call the JSON API with the bearer token kept in ``sessionStorage``. The few reads and
actions that exist only for the pages (who am I, PINs, acting for a person at a shared panel,
source states, the chain of one occurrence, the planner board and its stream) are in
``api.py``.
"""
