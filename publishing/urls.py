from django.urls import path

from publishing import views

urlpatterns = [
    path("metrics", views.metrics, name="metrics"),
]
