"""credit: evaluation runs, results, lines, objections and credit repairs

Revision ID: 0002_credit
Revises: 0001_foundation
Create Date: 2026-11-22 07:00:00

Keep in step with the sa.Table definitions in scoring/credit_store.py.
"""

from alembic import op
import sqlalchemy as sa


revision = "0002_credit"
down_revision = "0001_foundation"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "credit_runs",
        sa.Column("run_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("policy_name", sa.String(length=100), nullable=False),
        sa.Column("policy_hash", sa.String(length=64), nullable=False),
        sa.Column("policy_json", sa.Text(), nullable=False),
        sa.Column("data_snapshot", sa.Text(), nullable=False),
        sa.Column("scope", sa.Text(), nullable=True),
        sa.Column("parent_run_id", sa.Integer(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("institutions", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(["parent_run_id"], ["credit_runs.run_id"]),
        sa.PrimaryKeyConstraint("run_id"),
        comment="信用评价批次",
    )
    op.create_table(
        "credit_results",
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("institution_code", sa.String(length=40), nullable=False),
        sa.Column("subject", sa.String(length=40), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("grade", sa.String(length=8), nullable=False),
        sa.Column("score_grade", sa.String(length=8), nullable=False),
        sa.Column("veto", sa.Boolean(), nullable=False),
        sa.Column("veto_rules", sa.Text(), nullable=False),
        sa.Column("deductions", sa.Float(), nullable=False),
        sa.Column("bonuses", sa.Float(), nullable=False),
        sa.Column("peer_group", sa.String(length=100), nullable=True),
        sa.Column("line_count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["credit_runs.run_id"]),
        sa.PrimaryKeyConstraint("run_id", "institution_code"),
        comment="信用评价结果",
    )
    op.create_index("ix_credit_results_institution_code", "credit_results", ["institution_code"], unique=False)
    op.create_table(
        "credit_lines",
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("line_id", sa.String(length=300), nullable=False),
        sa.Column("institution_code", sa.String(length=40), nullable=False),
        sa.Column("subject", sa.String(length=40), nullable=False),
        sa.Column("rule_id", sa.String(length=80), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("points", sa.Float(), nullable=False),
        sa.Column("points_rule", sa.Float(), nullable=False),
        sa.Column("record_table", sa.String(length=40), nullable=False),
        sa.Column("record_key", sa.Text(), nullable=False),
        sa.Column("record_ids", sa.Text(), nullable=False),
        sa.Column("event_date", sa.Date(), nullable=True),
        sa.Column("base_points", sa.Float(), nullable=False),
        sa.Column("amount_multiplier", sa.Float(), nullable=False),
        sa.Column("source_multiplier", sa.Float(), nullable=False),
        sa.Column("lenient_multiplier", sa.Float(), nullable=False),
        sa.Column("case_source", sa.String(length=40), nullable=True),
        sa.Column("veto_grade", sa.String(length=8), nullable=True),
        sa.Column("capped", sa.Boolean(), nullable=False),
        sa.Column("under_appeal", sa.Boolean(), nullable=False),
        sa.Column("objection_pending", sa.Boolean(), nullable=False),
        sa.Column("repair_id", sa.Integer(), nullable=True),
        sa.Column("repair_state", sa.String(length=20), nullable=True),
        sa.Column("repair_effective", sa.Date(), nullable=True),
        sa.Column("text_zh", sa.Text(), nullable=False),
        sa.Column("text_en", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["credit_runs.run_id"]),
        sa.PrimaryKeyConstraint("run_id", "line_id"),
        comment="信用评价明细",
    )
    op.create_index("ix_credit_lines_institution_code", "credit_lines", ["institution_code"], unique=False)
    op.create_index("ix_credit_lines_line_id", "credit_lines", ["line_id"], unique=False)
    op.create_table(
        "credit_objections",
        sa.Column("objection_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("line_id", sa.String(length=300), nullable=False),
        sa.Column("institution_code", sa.String(length=40), nullable=False),
        sa.Column("rule_id", sa.String(length=80), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("attachments", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("filed_by", sa.String(length=100), nullable=False),
        sa.Column("filed_at", sa.DateTime(), nullable=False),
        sa.Column("decided_by", sa.String(length=100), nullable=True),
        sa.Column("decided_at", sa.DateTime(), nullable=True),
        sa.Column("decision_note", sa.Text(), nullable=True),
        sa.Column("regrade_run_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["regrade_run_id"], ["credit_runs.run_id"]),
        sa.ForeignKeyConstraint(["run_id"], ["credit_runs.run_id"]),
        sa.PrimaryKeyConstraint("objection_id"),
        comment="信用评价异议",
    )
    op.create_index("ix_credit_objections_line_id", "credit_objections", ["line_id"], unique=False)
    op.create_table(
        "credit_repairs",
        sa.Column("repair_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("line_id", sa.String(length=300), nullable=False),
        sa.Column("institution_code", sa.String(length=40), nullable=False),
        sa.Column("rule_id", sa.String(length=80), nullable=False),
        sa.Column("event_date", sa.Date(), nullable=True),
        sa.Column("applied_on", sa.Date(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("waiting_months", sa.Integer(), nullable=False),
        sa.Column("restore", sa.Float(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("applied_by", sa.String(length=100), nullable=False),
        sa.Column("applied_at", sa.DateTime(), nullable=False),
        sa.Column("decided_by", sa.String(length=100), nullable=True),
        sa.Column("decided_at", sa.DateTime(), nullable=True),
        sa.Column("decision_note", sa.Text(), nullable=True),
        sa.Column("effective_date", sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(["run_id"], ["credit_runs.run_id"]),
        sa.PrimaryKeyConstraint("repair_id"),
        comment="信用修复申请",
    )
    op.create_index("ix_credit_repairs_line_id", "credit_repairs", ["line_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_credit_repairs_line_id", table_name="credit_repairs")
    op.drop_table("credit_repairs")
    op.drop_index("ix_credit_objections_line_id", table_name="credit_objections")
    op.drop_table("credit_objections")
    op.drop_index("ix_credit_lines_line_id", table_name="credit_lines")
    op.drop_index("ix_credit_lines_institution_code", table_name="credit_lines")
    op.drop_table("credit_lines")
    op.drop_index("ix_credit_results_institution_code", table_name="credit_results")
    op.drop_table("credit_results")
    op.drop_table("credit_runs")
