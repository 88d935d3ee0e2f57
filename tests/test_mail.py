"""Mail goes out over a real SMTP connection."""

from paperfeed.config import Settings
from paperfeed.mail import new_message, send_message
from tests.smtp_server import SMTPServer


def test_send_message_reaches_the_server(settings: Settings, smtp_server: SMTPServer) -> None:
    send_message(
        settings, new_message(settings, to="ada@example.org", subject="Hi", text="Hello é")
    )
    [received] = smtp_server.inbox.to("ada@example.org")
    assert received["Subject"] == "Hi"
    assert "Hello é" in received.get_content()
