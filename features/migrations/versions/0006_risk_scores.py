"""risk scores: stored batches of the risk model's scores with their reasons

Revision ID: 0006_risk_scores
Revises: 0004_models
Create Date: 2026-11-22 07:45:00
"""

from alembic import op
import sqlalchemy as sa


revision = "0006_risk_scores"
down_revision = "0004_models"  # risk_score_batches.model_version refers to model_versions
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "risk_score_batches",
        sa.Column("batch_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("model_version", sa.String(length=64), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("n_reasons", sa.Integer(), nullable=False),
        sa.Column("institutions", sa.Integer(), nullable=False),
        sa.Column("scored_at", sa.DateTime(), nullable=False),
        sa.Column("scored_by", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(["model_version"], ["model_versions.version"]),
        sa.PrimaryKeyConstraint("batch_id"),
        comment="风险评分批次",
    )
    op.create_table(
        "risk_scores",
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("institution_code", sa.String(length=40), nullable=False),
        sa.Column("probability", sa.Float(), nullable=False),
        sa.Column("expected_amount", sa.Float(), nullable=False),
        sa.Column("priority", sa.Float(), nullable=False),
        sa.Column("risk_level", sa.String(length=20), nullable=False),
        sa.Column("reasons_json", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["batch_id"], ["risk_score_batches.batch_id"]),
        sa.PrimaryKeyConstraint("batch_id", "institution_code"),
        comment="机构风险评分及原因",
    )
    op.create_index("ix_risk_scores_institution", "risk_scores", ["institution_code"])


def downgrade() -> None:
    op.drop_index("ix_risk_scores_institution", table_name="risk_scores")
    op.drop_table("risk_scores")
    op.drop_table("risk_score_batches")
