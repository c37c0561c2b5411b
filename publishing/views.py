from django.http import HttpRequest, HttpResponse


def metrics(request: HttpRequest) -> HttpResponse:
    raise NotImplementedError  # issue 6
