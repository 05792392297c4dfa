"""The WhatsApp Cloud API emulator (see `emulator` for what it does)."""

from easyflow.sandbox.whatsapp.emulator import WhatsAppSandbox
from easyflow.sandbox.whatsapp.state import DEMO_NUMBER, SentMessage, WhatsAppConfig, WhatsAppNumber

__all__ = ["DEMO_NUMBER", "SentMessage", "WhatsAppConfig", "WhatsAppNumber", "WhatsAppSandbox"]
