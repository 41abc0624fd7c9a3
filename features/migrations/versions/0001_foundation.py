"""foundation: contract tables, import log, claims manifest

Revision ID: 0001_foundation
Revises:
Create Date: 2026-11-22 06:27:29.988159
"""

from alembic import op
import sqlalchemy as sa


revision = "0001_foundation"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "imports",
        sa.Column("import_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("actor", sa.String(length=100), nullable=True),
        sa.Column("skip_bad_rows", sa.Boolean(), nullable=False),
        sa.Column("rows_written", sa.BigInteger(), nullable=False),
        sa.Column("rows_unchanged", sa.BigInteger(), nullable=False),
        sa.Column("rows_skipped", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("import_id"),
    )
    op.create_table(
        "claim_partitions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("import_id", sa.Integer(), nullable=False),
        sa.Column("table_name", sa.String(length=40), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("rows", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["import_id"],
            ["imports.import_id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("path"),
    )
    with op.batch_alter_table("claim_partitions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_claim_partitions_import_id"), ["import_id"], unique=False)

    op.create_table(
        "complaints",
        sa.Column("complaint_id", sa.Text(), nullable=False, comment="举报编号"),
        sa.Column("institution_code", sa.Text(), nullable=False, comment="机构编码"),
        sa.Column("received_date", sa.Date(), nullable=False, comment="受理日期"),
        sa.Column("channel", sa.String(length=40), nullable=True, comment="渠道"),
        sa.Column("substantiated", sa.Boolean(), nullable=True, comment="是否属实"),
        sa.Column("closed_date", sa.Date(), nullable=True, comment="办结日期"),
        sa.Column("_import_id", sa.Integer(), nullable=False),
        sa.Column("_row_hash", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["_import_id"],
            ["imports.import_id"],
        ),
        sa.PrimaryKeyConstraint("complaint_id"),
        comment="投诉举报",
    )
    op.create_table(
        "deaths",
        sa.Column("patient_id", sa.Text(), nullable=False, comment="参保人编号"),
        sa.Column("death_date", sa.Date(), nullable=False, comment="死亡日期"),
        sa.Column("_import_id", sa.Integer(), nullable=False),
        sa.Column("_row_hash", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["_import_id"],
            ["imports.import_id"],
        ),
        sa.PrimaryKeyConstraint("patient_id"),
        comment="死亡人员",
    )
    op.create_table(
        "import_files",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("import_id", sa.Integer(), nullable=False),
        sa.Column("file_name", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("table_name", sa.String(length=40), nullable=False),
        sa.Column("rows_received", sa.BigInteger(), nullable=False),
        sa.Column("rows_written", sa.BigInteger(), nullable=False),
        sa.Column("rows_unchanged", sa.BigInteger(), nullable=False),
        sa.Column("rows_skipped", sa.BigInteger(), nullable=False),
        sa.Column("imported_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["import_id"],
            ["imports.import_id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("import_files", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_import_files_import_id"), ["import_id"], unique=False)

    op.create_table(
        "inspections",
        sa.Column("inspection_id", sa.Text(), nullable=False, comment="检查编号"),
        sa.Column("institution_code", sa.Text(), nullable=False, comment="机构编码"),
        sa.Column("start_date", sa.Date(), nullable=False, comment="检查日期"),
        sa.Column("kind", sa.String(length=40), nullable=False, comment="检查方式"),
        sa.Column("level", sa.String(length=40), nullable=False, comment="检查层级"),
        sa.Column("items", sa.Text(), nullable=True, comment="检查事项"),
        sa.Column("inspector_codes", sa.Text(), nullable=False, comment="执法人员"),
        sa.Column("draw_id", sa.Text(), nullable=True, comment="抽查批次"),
        sa.Column("found_violation", sa.Boolean(), nullable=False, comment="是否发现问题"),
        sa.Column(
            "amount_found", sa.Numeric(precision=18, scale=2, asdecimal=False), nullable=True, comment="问题金额"
        ),
        sa.Column("result_published", sa.Date(), nullable=True, comment="结果公开日期"),
        sa.Column("_import_id", sa.Integer(), nullable=False),
        sa.Column("_row_hash", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["_import_id"],
            ["imports.import_id"],
        ),
        sa.PrimaryKeyConstraint("inspection_id"),
        comment="检查记录",
    )
    op.create_table(
        "inspectors",
        sa.Column("inspector_code", sa.Text(), nullable=False, comment="执法人员编号"),
        sa.Column("name", sa.Text(), nullable=False, comment="姓名"),
        sa.Column("region_code", sa.Text(), nullable=False, comment="所属区划"),
        sa.Column("certified", sa.Boolean(), nullable=False, comment="持执法证"),
        sa.Column("active", sa.Boolean(), nullable=False, comment="在岗"),
        sa.Column("specialties", sa.Text(), nullable=True, comment="专长"),
        sa.Column("conflicts", sa.Text(), nullable=True, comment="回避机构"),
        sa.Column("_import_id", sa.Integer(), nullable=False),
        sa.Column("_row_hash", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["_import_id"],
            ["imports.import_id"],
        ),
        sa.PrimaryKeyConstraint("inspector_code"),
        comment="执法人员库",
    )
    op.create_table(
        "institutions",
        sa.Column("institution_code", sa.Text(), nullable=False, comment="机构编码"),
        sa.Column("name", sa.Text(), nullable=False, comment="机构名称"),
        sa.Column("credit_code", sa.Text(), nullable=True, comment="统一社会信用代码"),
        sa.Column("kind", sa.String(length=40), nullable=False, comment="机构类型"),
        sa.Column("level", sa.BigInteger(), nullable=True, comment="医院等级"),
        sa.Column("ownership", sa.String(length=40), nullable=False, comment="所有制"),
        sa.Column("region_code", sa.Text(), nullable=False, comment="行政区划代码"),
        sa.Column("beds", sa.BigInteger(), nullable=True, comment="床位数"),
        sa.Column("staff_count", sa.BigInteger(), nullable=True, comment="职工人数"),
        sa.Column("designated_since", sa.Date(), nullable=False, comment="定点日期"),
        sa.Column("status", sa.String(length=40), nullable=False, comment="协议状态"),
        sa.Column("status_since", sa.Date(), nullable=True, comment="状态日期"),
        sa.Column("_import_id", sa.Integer(), nullable=False),
        sa.Column("_row_hash", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["_import_id"],
            ["imports.import_id"],
        ),
        sa.PrimaryKeyConstraint("institution_code"),
        comment="定点医药机构",
    )
    op.create_table(
        "referrals",
        sa.Column("referral_id", sa.Text(), nullable=False, comment="通报编号"),
        sa.Column("institution_code", sa.Text(), nullable=False, comment="机构编码"),
        sa.Column("date", sa.Date(), nullable=False, comment="通报日期"),
        sa.Column("department", sa.String(length=40), nullable=False, comment="通报部门"),
        sa.Column("category", sa.Text(), nullable=True, comment="问题类别"),
        sa.Column("_import_id", sa.Integer(), nullable=False),
        sa.Column("_row_hash", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["_import_id"],
            ["imports.import_id"],
        ),
        sa.PrimaryKeyConstraint("referral_id"),
        comment="部门通报",
    )
    op.create_table(
        "self_inspections",
        sa.Column("report_id", sa.Text(), nullable=False, comment="报告编号"),
        sa.Column("institution_code", sa.Text(), nullable=False, comment="机构编码"),
        sa.Column("period_start", sa.Date(), nullable=False, comment="自查起始"),
        sa.Column("period_end", sa.Date(), nullable=False, comment="自查截止"),
        sa.Column("submitted_date", sa.Date(), nullable=False, comment="提交日期"),
        sa.Column("problems_reported", sa.BigInteger(), nullable=False, comment="自查问题数"),
        sa.Column(
            "amount_refunded",
            sa.Numeric(precision=18, scale=2, asdecimal=False),
            nullable=False,
            comment="主动退回金额",
        ),
        sa.Column("verified", sa.Boolean(), nullable=True, comment="是否复核"),
        sa.Column("verified_date", sa.Date(), nullable=True, comment="复核日期"),
        sa.Column("problems_found", sa.BigInteger(), nullable=True, comment="复核发现问题数"),
        sa.Column(
            "amount_found", sa.Numeric(precision=18, scale=2, asdecimal=False), nullable=True, comment="复核问题金额"
        ),
        sa.Column("_import_id", sa.Integer(), nullable=False),
        sa.Column("_row_hash", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["_import_id"],
            ["imports.import_id"],
        ),
        sa.PrimaryKeyConstraint("report_id"),
        comment="自查自纠",
    )
    op.create_table(
        "staff",
        sa.Column("staff_code", sa.Text(), nullable=False, comment="人员代码"),
        sa.Column("institution_code", sa.Text(), nullable=False, comment="机构编码"),
        sa.Column("role", sa.String(length=40), nullable=False, comment="类别"),
        sa.Column("status", sa.String(length=40), nullable=False, comment="支付资格状态"),
        sa.Column("_import_id", sa.Integer(), nullable=False),
        sa.Column("_row_hash", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["_import_id"],
            ["imports.import_id"],
        ),
        sa.PrimaryKeyConstraint("staff_code"),
        comment="医保支付资格人员",
    )
    op.create_table(
        "staff_points",
        sa.Column("event_id", sa.Text(), nullable=False, comment="记分编号"),
        sa.Column("staff_code", sa.Text(), nullable=False, comment="人员代码"),
        sa.Column("institution_code", sa.Text(), nullable=False, comment="机构编码"),
        sa.Column("date", sa.Date(), nullable=False, comment="记分日期"),
        sa.Column("points", sa.BigInteger(), nullable=False, comment="记分分值"),
        sa.Column("reason", sa.Text(), nullable=True, comment="记分事由"),
        sa.Column("_import_id", sa.Integer(), nullable=False),
        sa.Column("_row_hash", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["_import_id"],
            ["imports.import_id"],
        ),
        sa.PrimaryKeyConstraint("event_id"),
        comment="记分记录",
    )
    op.create_table(
        "violations",
        sa.Column("violation_id", sa.Text(), nullable=False, comment="违规记录编号"),
        sa.Column("institution_code", sa.Text(), nullable=False, comment="机构编码"),
        sa.Column("found_date", sa.Date(), nullable=False, comment="发现日期"),
        sa.Column("decision_date", sa.Date(), nullable=True, comment="处理决定日期"),
        sa.Column("source", sa.String(length=40), nullable=False, comment="线索来源"),
        sa.Column("inspection_id", sa.Text(), nullable=True, comment="检查编号"),
        sa.Column("category", sa.String(length=40), nullable=False, comment="违规类型"),
        sa.Column("amount", sa.Numeric(precision=18, scale=2, asdecimal=False), nullable=False, comment="违规金额"),
        sa.Column("disposition", sa.String(length=40), nullable=False, comment="处理方式"),
        sa.Column(
            "penalty_amount", sa.Numeric(precision=18, scale=2, asdecimal=False), nullable=True, comment="罚款/违约金"
        ),
        sa.Column("fraud", sa.Boolean(), nullable=True, comment="欺诈骗保"),
        sa.Column("lenient", sa.Boolean(), nullable=True, comment="从轻减轻免罚"),
        sa.Column("status", sa.String(length=40), nullable=False, comment="状态"),
        sa.Column("staff_codes", sa.Text(), nullable=True, comment="责任人员"),
        sa.Column("_import_id", sa.Integer(), nullable=False),
        sa.Column("_row_hash", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["_import_id"],
            ["imports.import_id"],
        ),
        sa.PrimaryKeyConstraint("violation_id"),
        comment="违规处理记录",
    )


def downgrade() -> None:

    op.drop_table("violations")
    op.drop_table("staff_points")
    op.drop_table("staff")
    op.drop_table("self_inspections")
    op.drop_table("referrals")
    op.drop_table("institutions")
    op.drop_table("inspectors")
    op.drop_table("inspections")
    with op.batch_alter_table("import_files", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_import_files_import_id"))

    op.drop_table("import_files")
    op.drop_table("deaths")
    op.drop_table("complaints")
    with op.batch_alter_table("claim_partitions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_claim_partitions_import_id"))

    op.drop_table("claim_partitions")
    op.drop_table("imports")
