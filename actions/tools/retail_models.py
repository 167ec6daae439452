"""Pydantic shapes of the retail records and of the retail tools' inputs and outputs."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from actions.errors import InvalidArguments
from actions.systems.retail import normalise_order_id


class _Open(BaseModel):
    """Records keep any extra keys a dataset carries, so nothing is lost on the way through."""

    model_config = ConfigDict(extra="allow")


class Address(_Open):
    address1: str
    address2: str = ""
    city: str
    country: str
    state: str
    zip: str


class OrderItem(_Open):
    name: str
    product_id: str
    item_id: str
    price: float
    options: dict[str, Any]


class Fulfillment(_Open):
    tracking_id: list[str]
    item_ids: list[str]


class PaymentEntry(_Open):
    transaction_type: Literal["payment", "refund"]
    amount: float
    payment_method_id: str


class Order(_Open):
    order_id: str
    user_id: str
    address: Address
    items: list[OrderItem]
    status: str
    fulfillments: list[Fulfillment]
    payment_history: list[PaymentEntry]


class PaymentMethod(_Open):
    source: str
    id: str
    balance: float | None = None
    brand: str | None = None
    last_four: str | None = None


class UserName(_Open):
    first_name: str
    last_name: str


class User(_Open):
    user_id: str
    name: UserName
    address: Address
    email: str
    payment_methods: dict[str, PaymentMethod]
    orders: list[str]


class Variant(_Open):
    item_id: str
    options: dict[str, Any]
    available: bool
    price: float


class Product(_Open):
    name: str
    product_id: str
    variants: dict[str, Variant]


# ------------------------------------------------------------------ inputs

_ID = Field(min_length=1, max_length=80)


class OrderRef(BaseModel):
    order_id: str = Field(min_length=1, max_length=40, description="order id, e.g. #W2378156")

    @field_validator("order_id")
    @classmethod
    def _norm(cls, v: str) -> str:
        try:
            return normalise_order_id(v)
        except InvalidArguments as exc:
            # Pydantic turns only ValueError into a validation error the runner can report.
            raise ValueError(exc.message) from None


class FindByEmail(BaseModel):
    email: str = Field(min_length=3, max_length=200)


class FindByNameZip(BaseModel):
    first_name: str = Field(min_length=1, max_length=100)
    last_name: str = Field(min_length=1, max_length=100)
    zip: str = Field(min_length=3, max_length=12)


class UserRef(BaseModel):
    user_id: str = _ID


class ProductRef(BaseModel):
    product_id: str = _ID


class NoArgs(BaseModel):
    pass


class _Write(BaseModel):
    expected_version: int | None = Field(
        default=None, description="version of the order the customer reviewed; a newer one is a conflict"
    )


class CancelOrder(OrderRef, _Write):
    reason: Literal["no longer needed", "ordered by mistake"]


class AddressFields(BaseModel):
    address1: str = Field(min_length=1, max_length=200)
    address2: str = Field(default="", max_length=200)
    city: str = Field(min_length=1, max_length=100)
    state: str = Field(min_length=1, max_length=100)
    country: str = Field(min_length=1, max_length=100)
    zip: str = Field(min_length=3, max_length=12)

    def as_address(self) -> dict[str, str]:
        # The key order of the retail store's addresses.
        return {
            "address1": self.address1,
            "address2": self.address2,
            "city": self.city,
            "country": self.country,
            "state": self.state,
            "zip": self.zip,
        }


class ModifyOrderAddress(OrderRef, AddressFields, _Write):
    pass


class ModifyOrderPayment(OrderRef, _Write):
    payment_method_id: str = _ID


class _ItemSwap(OrderRef, _Write):
    item_ids: list[str] = Field(min_length=1, max_length=50)
    new_item_ids: list[str] = Field(min_length=1, max_length=50)
    payment_method_id: str = _ID


class ModifyOrderItems(_ItemSwap):
    pass


class ExchangeItems(_ItemSwap):
    pass


class ReturnItems(OrderRef, _Write):
    item_ids: list[str] = Field(min_length=1, max_length=50)
    payment_method_id: str = _ID


class ModifyUserAddress(UserRef, AddressFields):
    pass


# ------------------------------------------------------------------ outputs


class UserIdOut(BaseModel):
    user_id: str


class UserOut(BaseModel):
    user: User
    version: int


class OrderOut(BaseModel):
    order: Order
    version: int


class ProductOut(BaseModel):
    product: Product


class ProductList(BaseModel):
    products: list[dict[str, str]]


class OrderChange(BaseModel):
    """What a retail write did: the order as written and any gift-card balances it moved."""

    order: Order
    version: int
    gift_card_balances: dict[str, float] = Field(default_factory=dict)
    price_difference: float | None = None


class UserChange(BaseModel):
    user: User
