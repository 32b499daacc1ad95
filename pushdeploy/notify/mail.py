"""A mail target: the notice as a plain-text message sent over SMTP (STARTTLS when offered)."""

from __future__ import annotations

import email.policy
import smtplib
import socket
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import TYPE_CHECKING

from pushdeploy.notify.http import (
    Failed,
    one_line,
)

if TYPE_CHECKING:
    from pushdeploy.notify.notice import Notice


def mail_message(notice: Notice, sender: str, to: tuple[str, ...]) -> EmailMessage:
    message = EmailMessage(policy=email.policy.default.clone(max_line_length=998))  # RFC 5322
    hide = notice.mask  # the same mask as every other way out
    message["Subject"] = hide(f"[pushdeploy] {notice.env.name}: {one_line(notice.summary, 200)}")
    message["From"] = sender
    message["To"] = ", ".join(to)
    message["Date"] = formatdate(notice.at, localtime=True)
    message["Message-ID"] = make_msgid("pushdeploy", sender.rpartition("@")[2] or None)
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies, please
    message["X-Pushdeploy-Event"] = notice.event
    message.set_content(hide("\n".join(notice.details())) + "\n")
    return message


def mail(notice: Notice, args: tuple[str, ...], timeout: float) -> None:
    """One mail to every address, through ``smtp`` with STARTTLS always (verified), then login."""
    env = notice.env
    host, _, port = env.notify.smtp.rpartition(":")
    server, user = env.notify.smtp, env.notify.smtp_user
    if user and env.notify.smtp_password is None:
        raise Failed("smtp-user is set but smtp-password is not: mail not sent")
    sender = env.notify.mail_from or f"pushdeploy@{socket.getfqdn()}"
    try:
        with smtplib.SMTP(host.strip("[]"), int(port), timeout=timeout) as smtp:
            smtp.ehlo()
            if not smtp.has_extn("starttls"):
                raise Failed(
                    f"{server} offers no STARTTLS: mail not sent"
                    " (pushdeploy sends no mail and no password in the clear)"
                )
            smtp.starttls(context=notice.ssl_context or ssl.create_default_context())
            smtp.ehlo()
            if user:
                smtp.login(user, env.notify.smtp_password or "")
            refused = smtp.send_message(mail_message(notice, sender, args), sender, list(args))
    except Failed:
        raise
    except smtplib.SMTPAuthenticationError as exc:
        raise Failed(f"{server} refused the login of {user}: {_said(exc)}") from None
    except smtplib.SMTPResponseException as exc:
        raise Failed(f"{server} answered {_said(exc)}", 400 <= exc.smtp_code < 500) from None
    except smtplib.SMTPRecipientsRefused as exc:
        raise Failed(f"{server} refused every address: {', '.join(exc.recipients)}") from None
    except smtplib.SMTPServerDisconnected as exc:
        raise Failed(f"{server} hung up: {one_line(str(exc), 150)}", True) from None
    except smtplib.SMTPException as exc:
        raise Failed(f"{server}: {one_line(str(exc), 150)}") from None
    except ssl.SSLError as exc:
        raise Failed(f"STARTTLS with {server} failed: {one_line(str(exc), 150)}") from None
    except TimeoutError:
        raise Failed(f"no answer within {round(timeout, 1):g} s from {server}", True) from None
    except OSError as exc:
        raise Failed(f"cannot reach {server}: {exc.strerror or exc}", True) from None
    if refused:
        raise Failed(f"{server} refused {', '.join(refused)} (the others were sent)")


def _said(exc: smtplib.SMTPResponseException) -> str:
    error: bytes | str = exc.smtp_error
    text = error.decode("utf-8", "replace") if isinstance(error, bytes) else error
    return one_line(f"{exc.smtp_code} {text}", 150)
