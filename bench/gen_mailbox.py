"""Generate a support mailbox as a Maildir, deterministically.

    python bench/gen_mailbox.py OUT_DIR [--count 5571] [--threads 3000] [--seed 1]

Customers write first messages and follow-ups (In-Reply-To/References to
earlier mails of the same thread), some in HTML, some with an attachment,
some with non-ASCII subjects; a few carry no Message-ID. File mtimes spread
over the last 90 days (Dovecot takes them as INTERNALDATE).
"""

from __future__ import annotations

import argparse
import base64
import os
import random
import time
from pathlib import Path

_VOCABULARY = """
    order parcel refund invoice delivery account password login broken missing
    charge subscription upgrade cancel address shipping tracking damaged replacement
    warranty urgent please help thanks question support price discount coupon size
    colour exchange return label courier weekend monday payment card bank transfer
"""
WORDS = _VOCABULARY.split()
NAMES = ("Ada", "Grace", "Linus", "Zoë", "Björn", "Ana", "Kenji", "Fatima", "Olu", "Mia",
         "Noah", "Ingrid", "Raj", "Chen", "Lucía", "Tomás")
TOPICS = ("Where is my order", "Refund request", "Cannot log in", "Invoice question",
          "Damaged parcel", "Change of address", "Rückerstattung", "Problème de livraison",
          "Subscription cancel", "Wrong size")


def sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n)).capitalize() + "."


def body_text(rng: random.Random) -> str:
    paras = [" ".join(sentence(rng, rng.randint(6, 16)) for _ in range(rng.randint(2, 6)))
             for _ in range(rng.randint(1, 4))]
    return "Hello,\n\n" + "\n\n".join(paras) + "\n\nThanks\n"


def make_message(rng: random.Random, k: int, thread: dict[str, object], when: float) -> bytes:
    name = str(thread["name"])
    addr = str(thread["addr"])
    subject = str(thread["subject"])
    refs: list[str] = list(thread["refs"])  # type: ignore[call-overload]
    msgid = f"bench{k}.{rng.getrandbits(40):x}@{addr.split('@')[1]}"
    if refs:
        subject = "Re: " + subject
    date = time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime(when))
    head = [f"From: {name} <{addr}>", "To: support@example.org", f"Date: {date}"]
    enc_subject = subject if subject.isascii() else (
        "=?utf-8?b?" + base64.b64encode(subject.encode()).decode() + "?=")
    head.append(f"Subject: {enc_subject}")
    if rng.random() > 0.01:  # a few mailers send none (SPEC §3)
        head.append(f"Message-ID: <{msgid}>")
    if refs:
        head.append(f"In-Reply-To: <{refs[-1]}>")
        head.append("References: " + " ".join(f"<{r}>" for r in refs[-10:]))
    head.append("MIME-Version: 1.0")
    text = body_text(rng)
    roll = rng.random()
    if roll < 0.15:  # with an attachment
        boundary = f"b{k}"
        payload = base64.encodebytes(rng.randbytes(rng.randint(2_000, 60_000))).decode()
        head.append(f'Content-Type: multipart/mixed; boundary="{boundary}"')
        body = (f"--{boundary}\nContent-Type: text/plain; charset=utf-8\n\n{text}\n"
                f"--{boundary}\nContent-Type: application/pdf\n"
                f'Content-Disposition: attachment; filename="scan{k}.pdf"\n'
                f"Content-Transfer-Encoding: base64\n\n{payload}--{boundary}--\n")
    elif roll < 0.35:  # HTML alternative
        boundary = f"a{k}"
        html = "<html><body>" + "".join(f"<p>{p}</p>" for p in text.split("\n\n")) + "</body></html>"
        head.append(f'Content-Type: multipart/alternative; boundary="{boundary}"')
        body = (f"--{boundary}\nContent-Type: text/plain; charset=utf-8\n\n{text}\n"
                f"--{boundary}\nContent-Type: text/html; charset=utf-8\n\n{html}\n--{boundary}--\n")
    else:
        head.append("Content-Type: text/plain; charset=utf-8")
        body = text
    thread["refs"] = [*refs, msgid]
    return ("\n".join(head) + "\n\n" + body).replace("\n", "\r\n").encode()


def generate(out: Path, count: int, threads: int, seed: int) -> int:
    rng = random.Random(seed)
    for sub in ("cur", "new", "tmp"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    pool: list[dict[str, object]] = []
    now = time.time()
    start = now - 90 * 86400
    for k in range(count):
        if len(pool) < threads and (not pool or rng.random() < threads / count * 1.1):
            name = rng.choice(NAMES)
            thread: dict[str, object] = {
                "name": name, "addr": f"{name.lower().encode('ascii', 'ignore').decode()}{len(pool)}@example.com",
                "subject": f"{rng.choice(TOPICS)} #{len(pool)}", "refs": [],
            }
            pool.append(thread)
        else:
            thread = rng.choice(pool)
        when = start + (now - start) * k / count
        raw = make_message(rng, k, thread, when)
        path = out / "cur" / f"{int(when)}.B{k}.bench:2,"
        path.write_bytes(raw)
        os.utime(path, (when, when))
    return count


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--count", type=int, default=5571)
    ap.add_argument("--threads", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    n = generate(args.out, args.count, args.threads, args.seed)
    print(f"{n} messages in {args.out}")


if __name__ == "__main__":
    main()
