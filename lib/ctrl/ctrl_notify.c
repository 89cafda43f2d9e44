/*
 * ctrl's side of a systemd service of Type=notify (sd_notify(3) from
 * libsystemd): READY=1 once its listeners are up, STOPPING=1 when it
 * starts to drain, and, when the unit sets WatchdogSec=, WATCHDOG=1 at
 * half that interval from the event loop, so that a wedged loop is seen
 * as one.  Without $NOTIFY_SOCKET each call does nothing.
 */
#include <systemd/sd-daemon.h>

#include "ctrl.h"
#include "monotime.h"

void
ctrl_notify_ready(struct ctrl *c)
{
	uint64_t usec = 0;

	if (sd_watchdog_enabled(0, &usec) > 0 && usec >= 2000)
		c->watchdog_ms = usec / 2000;
	c->watchdog_due_ms = mono_ms() + c->watchdog_ms;
	sd_notifyf(0, "READY=1\nSTATUS=serving %d functions", c->conf.nfuncs);
}

void
ctrl_notify_stopping(struct ctrl *c)
{
	if (c->notified_stop)
		return;
	c->notified_stop = true;
	sd_notify(0, "STOPPING=1\nSTATUS=draining");
}

void
ctrl_notify_watchdog(struct ctrl *c)
{
	uint64_t now;

	if (c->watchdog_ms == 0 || (now = mono_ms()) < c->watchdog_due_ms)
		return;
	c->watchdog_due_ms = now + c->watchdog_ms;
	sd_notify(0, "WATCHDOG=1");
}
