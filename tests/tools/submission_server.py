"""An SMTP submission server for mesa's mail tests (aiosmtpd, a real SMTP implementation).

It requires TLS (STARTTLS on --starttls, or TLS from the first byte on --implicit-tls) and a
login with the given user and password, like a site's submission port, and writes every
message it accepts to OUTDIR as N.eml with N.json beside it (envelope, login, TLS).

usage: submission_server.py --cert C --key K --user U --password P --outdir D
                            (--starttls | --implicit-tls) [--port N]
Prints "listening PORT" on stdout once it accepts connections.
"""

import argparse
import json
import os
import ssl
import sys
import time

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--cert", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--user", required=True)
    p.add_argument("--password", required=True)
    p.add_argument("--outdir", required=True)
    p.add_argument("--port", type=int, default=0)
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument("--starttls", action="store_true")
    mode.add_argument("--implicit-tls", action="store_true")
    a = p.parse_args()

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(a.cert, a.key)
    os.makedirs(a.outdir, exist_ok=True)
    counter = {"n": 0}

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == a.user
            and auth_data.password.decode() == a.password
        )
        # handled=False: aiosmtpd itself answers 535 to a refused login.
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            counter["n"] += 1
            base = os.path.join(a.outdir, str(counter["n"]))
            with open(base + ".eml.tmp", "wb") as f:
                f.write(envelope.original_content or envelope.content)
            info = {
                "mail_from": envelope.mail_from,
                "rcpt_tos": envelope.rcpt_tos,
                "login": session.auth_data.login.decode() if session.authenticated else None,
                "tls": a.implicit_tls or session.ssl is not None,
            }
            with open(base + ".json", "w") as f:
                json.dump(info, f)
            os.rename(base + ".eml.tmp", base + ".eml")
            return "250 OK queued"

    kwargs = dict(authenticator=authenticator, auth_required=True)
    if a.starttls:
        kwargs.update(tls_context=context, require_starttls=True, auth_require_tls=True)
    else:
        # The whole connection is TLS; aiosmtpd's auth_require_tls only knows STARTTLS.
        kwargs.update(ssl_context=context, auth_require_tls=False)
    port = a.port
    if port == 0:
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
    controller = Controller(Handler(), hostname="127.0.0.1", port=port, **kwargs)
    controller.start()
    print(f"listening {port}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        controller.stop()


if __name__ == "__main__":
    sys.exit(main())
