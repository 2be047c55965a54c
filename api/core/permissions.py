"""Roles, permissions and the operator's three sensitivity tiers, as one table.

high: customer data export and erasure, subscription cancellation, refunds (admin only);
moderate: detailed usage patterns (support and above);
low: general account details, recent transactions (the customer, own accounts only).
Customers hold no permission here: they reach their own data through the object-level
check in ``api.deps``; staff reach any customer's data through these grants.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    CUSTOMER = "customer"
    SUPPORT_AGENT = "support_agent"
    MARKETING_ANALYST = "marketing_analyst"
    NETWORK_OPS = "network_ops"
    ADMIN = "admin"


STAFF_ROLES = frozenset(r for r in Role if r is not Role.CUSTOMER)


class Permission(StrEnum):
    CUSTOMER_SEARCH = "customer:search"
    CUSTOMER_READ = "customer:read"  # profile, PII masked
    CUSTOMER_360 = "customer:360"  # the agent view: churn risk, reasons, next best action
    CUSTOMER_UNMASK = "customer:unmask"  # PII in clear
    BILLING_READ = "billing:read"  # accounts, bills, recent transactions
    USAGE_READ = "usage:read"  # usage records
    USAGE_PATTERNS_READ = "usage_patterns:read"  # detailed usage patterns
    CUSTOMER_EXPORT = "customer:export"
    CUSTOMER_ERASE = "customer:erase"  # GDPR/CCPA erasure: every store, irreversible
    SUBSCRIPTION_CANCEL = "subscription:cancel"
    PAYMENT_REFUND = "payment:refund"
    USERS_MANAGE = "users:manage"
    AUDIT_READ = "audit:read"


class Tier(StrEnum):
    LOW = "low"
    MODERATE = "moderate"
    HIGH = "high"


TIERS: dict[Permission, Tier] = {
    Permission.CUSTOMER_SEARCH: Tier.LOW,
    Permission.CUSTOMER_READ: Tier.LOW,
    Permission.CUSTOMER_360: Tier.LOW,
    Permission.BILLING_READ: Tier.LOW,
    Permission.USAGE_READ: Tier.LOW,
    Permission.CUSTOMER_UNMASK: Tier.MODERATE,
    Permission.USAGE_PATTERNS_READ: Tier.MODERATE,
    Permission.CUSTOMER_EXPORT: Tier.HIGH,
    Permission.CUSTOMER_ERASE: Tier.HIGH,
    Permission.SUBSCRIPTION_CANCEL: Tier.HIGH,
    Permission.PAYMENT_REFUND: Tier.HIGH,
    Permission.USERS_MANAGE: Tier.HIGH,
    Permission.AUDIT_READ: Tier.HIGH,
}

# Sensitive data: the session must have passed MFA within ``step_up_minutes``.
STEP_UP: frozenset[Permission] = frozenset(
    {
        Permission.CUSTOMER_UNMASK,
        Permission.USAGE_PATTERNS_READ,
        Permission.CUSTOMER_EXPORT,
        Permission.CUSTOMER_ERASE,
        Permission.SUBSCRIPTION_CANCEL,
        Permission.PAYMENT_REFUND,
    }
)

_SUPPORT = {
    Permission.CUSTOMER_SEARCH,
    Permission.CUSTOMER_READ,
    Permission.CUSTOMER_360,
    Permission.CUSTOMER_UNMASK,
    Permission.BILLING_READ,
    Permission.USAGE_READ,
    Permission.USAGE_PATTERNS_READ,
}

GRANTS: dict[Role, frozenset[Permission]] = {
    Role.CUSTOMER: frozenset(),
    Role.SUPPORT_AGENT: frozenset(_SUPPORT),
    # Marketing works on segments: it sees who is at risk, never contact details in clear.
    Role.MARKETING_ANALYST: frozenset(
        {Permission.CUSTOMER_SEARCH, Permission.CUSTOMER_READ, Permission.CUSTOMER_360}
    ),
    # Network operations look at a customer's home cell, not at bills or contact details.
    Role.NETWORK_OPS: frozenset(
        {Permission.CUSTOMER_READ, Permission.CUSTOMER_360, Permission.USAGE_READ}
    ),
    Role.ADMIN: frozenset(Permission),
}

# What a customer may do with their own data (the low tier).
CUSTOMER_SELF: frozenset[Permission] = frozenset(
    {
        Permission.CUSTOMER_READ,
        Permission.CUSTOMER_UNMASK,  # their own details, in clear, without step-up
        Permission.BILLING_READ,
        Permission.USAGE_READ,
    }
)


def allows(role: Role, permission: Permission) -> bool:
    """Whether a staff role holds a permission over any customer's data."""
    return permission in GRANTS[role]
