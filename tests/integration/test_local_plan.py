"""`plan` (what env.json names the resources by) gives every resource the name, URL and ARN `provision`
(what `make local` creates) gives it; a secret by its name, which reads the same secret as its ARN."""

from local.aws import ACCOUNT_ID, REGION, aws_client, plan, provision
from local.template import read_application


def test_the_plan_names_every_resource_as_the_local_stack_creates_it(moto_endpoint: str) -> None:
    application = read_application()
    arguments = {
        "endpoint_url": moto_endpoint,
        "stack_name": "plan-check",
        "conditions": application.conditions,
    }

    planned = plan(application.resources, application.parameters, **arguments)
    created = provision(application.resources, application.parameters, secret_values={}, **arguments)

    secrets = {
        logical_id
        for logical_id, resource in application.resources.items()
        if resource["Type"] == "AWS::SecretsManager::Secret"
    }
    assert secrets == {"PipelineSecrets", "NotifySigningSecret"}
    assert {k: v for k, v in planned.refs.items() if k not in secrets} == {
        k: v for k, v in created.refs.items() if k not in secrets
    }
    assert planned.attributes == created.attributes
    manager = aws_client("secretsmanager", moto_endpoint)
    for logical_id in secrets:
        arn = created.refs[logical_id]
        assert arn.startswith(
            f"arn:aws:secretsmanager:{REGION}:{ACCOUNT_ID}:secret:{planned.refs[logical_id]}-"
        )
        by_name = manager.get_secret_value(SecretId=planned.refs[logical_id])
        assert by_name["ARN"] == arn
