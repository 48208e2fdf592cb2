// Package alert is the `alert` resource type (Pacemaker's
// ocf:heartbeat:MailTo): a pseudo resource that sends a notification when it
// starts on a node and when it stops, by e-mail over SMTP, by a JSON webhook
// or by running a script with Pacemaker's CRM_alert_* environment. A
// notification that cannot be sent is logged, never a failed operation: a
// mail server outage must not move resources.
//
// The same delivery is offered for cluster events (NewNotifier, Event,
// Notifiers), but nothing in haven sends cluster events through it yet; only
// the resource notifies. engine/agent's registry registers Type as "alert".
package alert
