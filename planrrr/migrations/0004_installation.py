import uuid

from django.db import migrations, models


def make_installation(apps, schema_editor):
    """The installation's one row, with its key, made once with the table."""
    Installation = apps.get_model("planrrr", "Installation")
    Installation.objects.using(schema_editor.connection.alias).get_or_create(id=1, defaults={"key": uuid.uuid4()})


class Migration(migrations.Migration):
    dependencies = [
        ("planrrr", "0003_team_requires_approval"),
    ]

    operations = [
        migrations.CreateModel(
            name="Installation",
            fields=[
                ("id", models.PositiveSmallIntegerField(default=1, editable=False, primary_key=True, serialize=False)),
                ("key", models.UUIDField(default=uuid.uuid4, editable=False, unique=True)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
            ],
            options={
                "constraints": [models.CheckConstraint(condition=models.Q(("id", 1)), name="installation_one_row")],
            },
        ),
        migrations.RunPython(make_installation, migrations.RunPython.noop),
    ]
