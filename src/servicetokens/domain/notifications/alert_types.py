"""The alert types servicetokens serves, and what `available_alerts` and
`destinations/eligible` say about them.

`expiring_service_token_alert` is Cloudflare's own. The `servicetokens_*` types are
extensions (opt-in: a policy names one to receive it); their names carry the prefix so they
can never clash with a future Cloudflare type. Every other Cloudflare alert type is known
(the SDKs' enum) but not served: a policy naming one is refused with 17200, a name nobody
knows with 17004.
"""

from __future__ import annotations

from datetime import timedelta
from types import MappingProxyType

__all__ = [
    "AUTH_FAILURES",
    "AUTH_FAILURE_THRESHOLD",
    "AUTH_FAILURE_WINDOW",
    "CATALOGUE",
    "CLOUDFLARE_TYPES",
    "ELIGIBILITY",
    "EXPIRED",
    "EXPIRING",
    "EXTENSION_TYPES",
    "INACTIVE_ACTION",
    "SERVED_TYPES",
    "TOKEN_DELETED",
    "TOKEN_DISABLED",
    "TOKEN_ROTATED",
]

EXPIRING = "expiring_service_token_alert"
EXPIRED = "servicetokens_service_token_expired"
TOKEN_ROTATED = "servicetokens_service_token_rotated"
TOKEN_DISABLED = "servicetokens_service_token_disabled"
TOKEN_DELETED = "servicetokens_service_token_deleted"
AUTH_FAILURES = "servicetokens_auth_failures"
INACTIVE_ACTION = "servicetokens_inactive_token_action"

AUTH_FAILURE_THRESHOLD = 10
"""Failed attempts on one known client id, within `AUTH_FAILURE_WINDOW`, that raise
`servicetokens_auth_failures` (at most once per token per window)."""
AUTH_FAILURE_WINDOW = timedelta(minutes=5)

_TOKEN_FILTER = {
    "AvailableValues": None,
    "ComparisonOperator": "==",
    "Key": "token_id",
    "Range": "0-n",
}

_EXTENSIONS = (
    (EXPIRED, "Service Token Expired", "An enabled service token reached its expires_at."),
    (TOKEN_ROTATED, "Service Token Rotated", "A service token's secret was rotated."),
    (TOKEN_DISABLED, "Service Token Disabled", "A service token was disabled."),
    (TOKEN_DELETED, "Service Token Deleted", "A service token was deleted."),
    (
        AUTH_FAILURES,
        "Service Token Authentication Failures",
        "A known client id failed authentication at a gate repeatedly (10 times within 5 minutes).",
    ),
    (
        INACTIVE_ACTION,
        "Inactive Service Token Action",
        "The organization's inactivity setting disabled or deleted a service token.",
    ),
)

EXTENSION_TYPES = frozenset(name for name, _, _ in _EXTENSIONS)
SERVED_TYPES = frozenset({EXPIRING, *EXTENSION_TYPES})

CATALOGUE: MappingProxyType[str, list[dict[str, object]]] = MappingProxyType(
    {
        "Access": [
            {
                "type": EXPIRING,
                "display_name": "Expiring Access Service Token Alert",
                "description": (
                    "Cloudflare Access service token expiration notice, sent 7 days before "
                    "token expires"
                ),
                "filter_options": [_TOKEN_FILTER],
            }
        ],
        "Access (servicetokens extensions)": [
            {
                "type": name,
                "display_name": display,
                "description": description,
                "filter_options": [_TOKEN_FILTER],
            }
            for name, display, description in _EXTENSIONS
        ],
    }
)
"""`available_alerts`: served types by product category."""

ELIGIBILITY: MappingProxyType[str, list[dict[str, object]]] = MappingProxyType(
    {
        "email": [{"eligible": True, "ready": False, "type": "email"}],
        "pagerduty": [{"eligible": False, "ready": False, "type": "pagerduty"}],
        "webhook": [{"eligible": True, "ready": True, "type": "webhook"}],
    }
)
"""`destinations/eligible`: webhooks are delivered; email is stored but not sent ("ready":
false is Cloudflare's "we cannot guarantee delivery"); PagerDuty is not offered."""

CLOUDFLARE_TYPES = frozenset(
    [
        "abuse_report_alert",
        "access_custom_certificate_expiration_type",
        "advanced_ddos_attack_l4_alert",
        "advanced_ddos_attack_l7_alert",
        "advanced_http_alert_error",
        "bgp_hijack_notification",
        "billing_usage_alert",
        "block_notification_block_removed",
        "block_notification_new_block",
        "block_notification_review_rejected",
        "bot_traffic_basic_alert",
        "brand_protection_alert",
        "brand_protection_digest",
        "clickhouse_alert_fw_anomaly",
        "clickhouse_alert_fw_ent_anomaly",
        "cloudforce_one_request_notification",
        "cni_maintenance_notification",
        "custom_analytics",
        "custom_bot_detection_alert",
        "custom_ssl_certificate_event_type",
        "dedicated_ssl_certificate_event_type",
        "device_connectivity_anomaly_alert",
        "dos_attack_l4",
        "dos_attack_l7",
        "expiring_service_token_alert",
        "failing_logpush_job_disabled_alert",
        "fbm_auto_advertisement",
        "fbm_dosd_attack",
        "fbm_volumetric_attack",
        "health_check_status_notification",
        "hostname_aop_custom_certificate_expiration_type",
        "http_alert_edge_error",
        "http_alert_origin_error",
        "image_notification",
        "image_resizing_notification",
        "incident_alert",
        "load_balancing_health_alert",
        "load_balancing_pool_enablement_alert",
        "logo_match_alert",
        "magic_tunnel_health_check_event",
        "magic_wan_tunnel_health",
        "maintenance_event_notification",
        "mtls_certificate_store_certificate_expiration_type",
        "pages_event_alert",
        "radar_notification",
        "real_origin_monitoring",
        "scriptmonitor_alert_new_code_change_detections",
        "scriptmonitor_alert_new_hosts",
        "scriptmonitor_alert_new_malicious_hosts",
        "scriptmonitor_alert_new_malicious_scripts",
        "scriptmonitor_alert_new_malicious_url",
        "scriptmonitor_alert_new_max_length_resource_url",
        "scriptmonitor_alert_new_resources",
        "secondary_dns_all_primaries_failing",
        "secondary_dns_primaries_failing",
        "secondary_dns_warning",
        "secondary_dns_zone_successfully_updated",
        "secondary_dns_zone_validation_warning",
        "security_insights_alert",
        "sentinel_alert",
        "stream_live_notifications",
        "synthetic_test_latency_alert",
        "synthetic_test_low_availability_alert",
        "traffic_anomalies_alert",
        "tunnel_health_event",
        "tunnel_update_event",
        "universal_ssl_event_type",
        "web_analytics_metrics_update",
        "zone_aop_custom_certificate_expiration_type",
    ]
)
"""Every alert type the official SDKs (5.9.0) know; all but the expiring-token alert are
refused with 17200."""
