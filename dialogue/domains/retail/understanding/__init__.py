"""What understanding knows of the retail store: its records, its ids and its requests.

`RETAIL_UNDERSTANDING` is the pack an understander is built with to read order ids, items of an
order, product variants and their options, the customer's payment methods, cancel reasons,
subscription plans and catalogue products (`order_id`, `items`, `variants`, `payment`,
`cancel_reason`, `plan`, with the ways people name products in `catalog`, and the checks of an
LLM's values in `resolve`); the records they are resolved against are `models`. The words and
phrases the parsers match are in assets/nlu/<lang>/ (lexicon.yaml, catalog.yaml).
"""

from __future__ import annotations

from dialogue.domains.retail.understanding import cancel_reason, items, order_id, payment, plan, resolve, variants
from dialogue.domains.retail.understanding.models import ItemRef, PaymentRef, VariantRef
from dialogue.understanding.extensions import EntityKind, IntentKind, UnderstandingPack

__all__ = ["RETAIL_UNDERSTANDING", "ItemRef", "PaymentRef", "VariantRef"]


def _item(record: object) -> dict:
    return ItemRef.model_validate(record).model_dump(exclude={"price"})


def _variant(record: object) -> dict:
    return VariantRef.model_validate(record).model_dump()


def _payment(record: object) -> dict:
    return PaymentRef.model_validate(record).model_dump(exclude={"balance"})


def _as_is(record: object) -> object:
    return record


RETAIL_UNDERSTANDING = UnderstandingPack(
    name="retail",
    description="an online store: orders and their items, shipping, returns and exchanges, payment methods, "
    "products, subscriptions",
    parsers=(order_id.extract, payment.extract, cancel_reason.extract, plan.extract, items.extract, variants.extract),
    entities=(
        EntityKind("order_id", '"#W" and 7 digits: "#W1234567"', resolve.resolve_order_id, exclusive=True),
        EntityKind(
            "payment_method",
            'the "id" of one of candidates.payment_method; a kind of payment the customer named that is not '
            'among them is {"source": "credit_card" | "paypal" | "gift_card"}',
            resolve.resolve_payment,
            present=_payment,
        ),
        EntityKind(
            "item", 'the "item_id" of one of candidates.item (lines of the order)', resolve.resolve_item, present=_item
        ),
        EntityKind(
            "variant",
            'the "item_id" of one of candidates.variant (options of a product the customer may switch to)',
            resolve.resolve_variant,
            present=_variant,
        ),
        EntityKind(
            "option",
            '{"name", "value"} from the "options" of candidates.variant or candidates.item',
            resolve.resolve_option,
        ),
        EntityKind(
            "cancel_reason", 'exactly "no longer needed" or "ordered by mistake"', resolve.resolve_cancel_reason
        ),
        EntityKind("plan", "one of candidates.plan (plan ids)", resolve.resolve_plan, present=_as_is),
        EntityKind("product", 'the "product_id" of one of candidates.product', resolve.resolve_product, present=_as_is),
    ),
    intents=(
        IntentKind("order_status", "where an order is: its status and tracking"),
        IntentKind("cancel_order", "cancel an order that has not shipped"),
        IntentKind("modify_order_address", "change the shipping address of an order that has not shipped"),
        IntentKind("modify_order_payment", "pay an order that has not shipped with another payment method"),
        IntentKind("modify_order_items", "swap items of an order that has not shipped for other options"),
        IntentKind("return_items", "return delivered items for a refund"),
        IntentKind("exchange_items", "exchange delivered items for other options of the same product"),
        IntentKind("update_default_address", "change the default address of the account"),
        IntentKind("product_info", "a question about a product: its options, availability or price"),
        IntentKind("subscription_upgrade", "move the subscription to a bigger plan"),
        IntentKind("subscription_downgrade", "move the subscription to a smaller plan"),
        IntentKind("subscription_cancel", "cancel the subscription"),
        IntentKind("password_reset", "get back into the account: a forgotten password, a locked login"),
        IntentKind("missing_package", "a package that never arrived"),
        IntentKind("damaged_package", "items that arrived damaged or broken"),
        IntentKind("schedule_callback", "be called back by a person at a given time"),
        IntentKind("refund_status", "where a refund for one of their orders is: how much, to which method, when"),
        IntentKind("gift_card_balance", "how much is left on their gift card"),
        IntentKind("refund_quote", "how much a return or a cancellation would refund, asked without asking for it"),
    ),
)
