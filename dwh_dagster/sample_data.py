"""Deterministic sample data for the offline demo: customers (csv), orders (jsonl), payments (parquet).

Regenerate with ``uv run python -m dwh_dagster.sample_data [OUT_DIR]`` (default ``sample_data/``).
The same code always writes the same bytes, so the committed files can be checked against it.
"""

from __future__ import annotations

import csv
import io
import json
import random
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

SEED = 20240101
CUSTOMERS = 50
ORDERS = 200
FIRST_NAMES = ["Ada", "Alan", "Grace", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Margaret", "Niklaus"]
LAST_NAMES = ["Lovelace", "Turing", "Hopper", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson", "Hamilton"]
COUNTRIES = ["DE", "FR", "NL", "US", "GB", "SE", "ES", "IT"]
STATUSES = ["placed", "shipped", "delivered", "returned"]
METHODS = ["card", "paypal", "bank_transfer", "gift_card"]


def generate(out_dir: Path) -> list[Path]:
    """Write the three sample files into ``out_dir`` and return their paths."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = random.Random(SEED)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    out_dir.mkdir(parents=True, exist_ok=True)

    customers = []
    for customer_id in range(1, CUSTOMERS + 1):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        customers.append(
            {
                "id": customer_id,
                "first_name": first,
                "last_name": last,
                "email": f"{first.lower()}.{last.lower()}{customer_id}@example.com",
                "country": rng.choice(COUNTRIES),
                "signed_up_at": (start + timedelta(days=rng.randint(0, 90))).isoformat(),
            }
        )
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(customers[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(customers)
    customers_file = out_dir / "customers.csv"
    customers_file.write_text(buffer.getvalue())

    orders = []
    payments = []
    for order_id in range(1, ORDERS + 1):
        placed = start + timedelta(days=90 + rng.randint(0, 180), minutes=rng.randint(0, 1439))
        items: list[dict[str, str | int]] = [
            {
                "sku": f"SKU-{rng.randint(100, 999)}",
                "quantity": rng.randint(1, 4),
                "unit_price": rng.randint(5, 200),
            }
            for _ in range(rng.randint(1, 3))
        ]
        amount = sum(int(i["quantity"]) * int(i["unit_price"]) for i in items)
        orders.append(
            {
                "order_id": order_id,
                "customer_id": rng.randint(1, CUSTOMERS),
                "status": rng.choice(STATUSES),
                "ordered_at": placed.isoformat(),
                "amount": amount,
                "items": items,
                "shipping": {"country": rng.choice(COUNTRIES), "express": rng.random() < 0.2},
            }
        )
        payments.append(
            {
                "payment_id": order_id,
                "order_id": order_id,
                "method": rng.choice(METHODS),
                "amount": float(amount),
                "paid_at": (placed + timedelta(minutes=rng.randint(1, 120))).isoformat(),
            }
        )
    orders_file = out_dir / "orders.jsonl"
    orders_file.write_text("".join(json.dumps(o, sort_keys=True) + "\n" for o in orders))
    payments_file = out_dir / "payments.parquet"
    pq.write_table(pa.Table.from_pylist(payments), payments_file, compression="snappy")
    return [customers_file, orders_file, payments_file]


def main() -> None:
    """Entry point of ``python -m dwh_dagster.sample_data``."""
    out_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("sample_data")
    for path in generate(out_dir):
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
