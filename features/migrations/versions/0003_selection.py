"""selection: random draws (frozen pool, seed, units, teams, exclusions), targeted selections, yearly plans

Revision ID: 0003_selection
Revises: 0001_foundation
Create Date: 2026-11-22 09:00:00

The tables are declared in ``scoring/selection_store.py``; keep both in step.
"""

from alembic import op
import sqlalchemy as sa


revision = "0003_selection"
down_revision = "0001_foundation"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "draws",
        sa.Column("draw_id", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("regions", sa.Text(), nullable=False, comment="';'-joined region codes"),
        sa.Column("bureau_level", sa.String(length=10), nullable=False),
        sa.Column("item", sa.String(length=100), nullable=True),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("method", sa.String(length=20), nullable=False),
        sa.Column("pool_document", sa.Text(), nullable=False),
        sa.Column("pool_hash", sa.String(length=64), nullable=False),
        sa.Column("pool_size", sa.Integer(), nullable=False),
        sa.Column("frozen_at", sa.DateTime(), nullable=False),
        sa.Column("frozen_by", sa.String(length=100), nullable=False),
        sa.Column("seed_source", sa.String(length=10), nullable=True),
        sa.Column("seed_value", sa.Text(), nullable=True),
        sa.Column("seed_reference", sa.Text(), nullable=True),
        sa.Column("drawn_at", sa.DateTime(), nullable=True),
        sa.Column("drawn_by", sa.String(length=100), nullable=True),
        sa.Column("selected_count", sa.Integer(), nullable=True),
        sa.Column("draw_document", sa.Text(), nullable=True),
        sa.Column("failure", sa.Text(), nullable=True),
        sa.CheckConstraint("status in ('frozen', 'drawn', 'failed')", name="ck_draws_status"),
        sa.PrimaryKeyConstraint("draw_id"),
        sa.UniqueConstraint("pool_hash"),
        comment="双随机抽查批次",
    )
    op.create_table(
        "draw_units",
        sa.Column("draw_id", sa.String(length=40), nullable=False),
        sa.Column("institution_code", sa.String(length=40), nullable=False),
        sa.Column("region_code", sa.String(length=6), nullable=False),
        sa.Column("stratum", sa.String(length=20), nullable=False),
        sa.Column("weight", sa.String(length=30), nullable=True),
        sa.Column("ticket", sa.String(length=64), nullable=True),
        sa.Column("inclusion_probability", sa.Float(), nullable=True),
        sa.Column("selected", sa.Boolean(), nullable=True),
        sa.Column("draw_rank", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["draw_id"], ["draws.draw_id"]),
        sa.PrimaryKeyConstraint("draw_id", "institution_code"),
        comment="抽查对象库（入库机构）",
    )
    op.create_table(
        "draw_exclusions",
        sa.Column("draw_id", sa.String(length=40), nullable=False),
        sa.Column("institution_code", sa.String(length=40), nullable=False),
        sa.Column("reason_code", sa.String(length=40), nullable=False),
        sa.Column("reason_zh", sa.Text(), nullable=False),
        sa.Column("reason_en", sa.Text(), nullable=False),
        sa.Column("inspection_id", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["draw_id"], ["draws.draw_id"]),
        sa.PrimaryKeyConstraint("draw_id", "institution_code", "reason_code"),
        comment="未入库机构及原因",
    )
    op.create_table(
        "draw_assignments",
        sa.Column("draw_id", sa.String(length=40), nullable=False),
        sa.Column("institution_code", sa.String(length=40), nullable=False),
        sa.Column("lead_inspector_code", sa.String(length=40), nullable=False),
        sa.Column("inspector_codes", sa.Text(), nullable=False),
        sa.Column("inspector_tickets", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["draw_id"], ["draws.draw_id"]),
        sa.PrimaryKeyConstraint("draw_id", "institution_code"),
        comment="随机选派执法人员",
    )
    op.create_table(
        "targeted_selections",
        sa.Column("selection_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("budget", sa.Integer(), nullable=False),
        sa.Column("rules_json", sa.Text(), nullable=False),
        sa.Column("triggered", sa.Integer(), nullable=False),
        sa.Column("selected_count", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.PrimaryKeyConstraint("selection_id"),
        comment="重点检查对象选取",
    )
    op.create_table(
        "targeted_picks",
        sa.Column("selection_id", sa.Integer(), nullable=False),
        sa.Column("institution_code", sa.String(length=40), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("trigger", sa.Boolean(), nullable=False),
        sa.Column("priority_rank", sa.Integer(), nullable=True),
        sa.Column("expected_loss", sa.Float(), nullable=True),
        sa.Column("items", sa.Text(), nullable=True),
        sa.Column("reason_codes", sa.Text(), nullable=False),
        sa.Column("reasons_json", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["selection_id"], ["targeted_selections.selection_id"]),
        sa.PrimaryKeyConstraint("selection_id", "institution_code"),
        comment="重点检查对象及理由",
    )
    op.create_table(
        "plans",
        sa.Column("plan_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("rules_json", sa.Text(), nullable=False),
        sa.Column("sources_json", sa.Text(), nullable=False),
        sa.Column("months_json", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.PrimaryKeyConstraint("plan_id"),
        comment="年度检查计划",
    )
    op.create_table(
        "plan_visits",
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("institution_code", sa.String(length=40), nullable=False),
        sa.Column("month", sa.Integer(), nullable=False),
        sa.Column("origins", sa.Text(), nullable=False),
        sa.Column("items", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["plan_id"], ["plans.plan_id"]),
        sa.PrimaryKeyConstraint("plan_id", "institution_code", "month"),
        comment="年度检查计划明细",
    )


def downgrade() -> None:
    for table in (
        "plan_visits",
        "plans",
        "targeted_picks",
        "targeted_selections",
        "draw_assignments",
        "draw_exclusions",
        "draw_units",
        "draws",
    ):
        op.drop_table(table)
