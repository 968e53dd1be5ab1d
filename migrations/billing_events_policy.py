"""``billing_events``' policy expressions as revisions 0043 and 0044 write them (frozen: a later
revision that changes the policy defines its own)."""

from __future__ import annotations

# The write check since before 0043: a row of the current workspace, or a webhook's event
# stored by its id before its workspace is known.
CHECK = (
    "(workspace_id IS NULL OR workspace_id = tb_current_workspace())"
    " AND (event_id = tb_setting('app.lookup') OR workspace_id = tb_current_workspace())"
)
# The rows the table's one policy admitted before 0043.
BEFORE_0043 = "workspace_id = tb_current_workspace() OR event_id = tb_setting('app.lookup')"
# 0043's addition: a row naming a payment and a workspace, under ``app.lookup`` = the payment.
BY_PAYMENT = "workspace_id IS NOT NULL AND razorpay_payment_id = tb_setting('app.lookup')"
