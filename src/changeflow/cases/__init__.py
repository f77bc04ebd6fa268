"""Case analysis (PRODUCT §12, §十 变更管理案例分析) and the customers' rating of an outcome
(PRODUCT §11).

Who does what (decided here, enforced by ``services.require_*`` and ``core.access``):

- **Cases**: a change request in a final state (closed, rejected or withdrawn: a rejected or
  withdrawn change is as much a lesson as a closed one, often more) may be marked as a case by
  the project's project managers, tech leads and QA (and site admins), who also edit it. Every
  other team member reads the library. Customer roles do not see cases: root causes, lessons
  and cost overruns are the delivery team's internal retrospective (``access.sees_internal``),
  so for them a case does not exist (404), like the project's plans.
- **Ratings**: once a change request is closed, its requester and the project's customer and
  customer representative members rate the outcome, 1–5 stars and a comment, one rating each,
  changeable; every member sees the ratings. Site admins do not rate for a customer.
"""
