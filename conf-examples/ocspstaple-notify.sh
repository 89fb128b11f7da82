#!/bin/sh
# Example OCSPStapleNotify program: mails the event to root with sendmail
# if there is one, else hands it to syslog. Runs as the User httpd runs as,
# from the background refresher, at most 10 s (then it is killed).
#   OCSPStapleNotify /usr/local/bin/ocspstaple-notify.sh
# Arguments: event id subject serial reason
# Events: revoked expiring expired failing recovered must-staple-missing
event=$1 id=$2 subject=$3 serial=$4 reason=$5
to=${OCSPSTAPLE_NOTIFY_TO:-root}
host=$(hostname 2>/dev/null || echo localhost)
text="OCSP stapling on $host: $event
certificate: $subject
serial:      $serial
id:          $id
reason:      $reason"

for sm in /usr/sbin/sendmail /usr/lib/sendmail; do
    if [ -x "$sm" ]; then
        printf 'To: %s\nSubject: [ocspstaple] %s: %s\n\n%s\n' \
            "$to" "$event" "$subject" "$text" | "$sm" -t
        exit $?
    fi
done
logger -t ocspstaple -p daemon.warning "$event: $subject (serial $serial): $reason"
